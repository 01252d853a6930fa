/* vckpt - libxml2 helpers. */
#include <config.h>

#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#include "util.h"
#include "xml.h"

void
vk_cleanup_xmldoc(void *ptr)
{
  xmlFreeDoc(*(xmlDocPtr *)ptr);
}

void
vk_cleanup_xpathctx(void *ptr)
{
  xmlXPathFreeContext(*(xmlXPathContextPtr *)ptr);
}

void
vk_cleanup_xpathobj(void *ptr)
{
  xmlXPathFreeObject(*(xmlXPathObjectPtr *)ptr);
}

/* libxml2 prints parse errors itself unless told otherwise; we collect the
 * last one and report it through vk_error.
 */
static void
silent_error(void *ctx, const char *msg, ...)
{
}

void
vk_xml_init(void)
{
  xmlInitParser();
  xmlSetGenericErrorFunc(NULL, silent_error);
}

xmlDocPtr
vk_xml_parse(const char *xml, const char *what)
{
  if (xml[strspn(xml, " \t\r\n")] == '\0') {
    vk_error(VK_EXIT_FAILURE, "%s: empty: no XML document", what);
    return NULL;
  }
  xmlDocPtr doc = xmlReadMemory(xml, strlen(xml), what, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  if (!doc) {
    const xmlError *e = xmlGetLastError();
    char msg[256];
    snprintf(msg, sizeof msg, "%s", e && e->message ? e->message : "unknown error");
    msg[strcspn(msg, "\n")] = '\0';
    vk_error(VK_EXIT_FAILURE, "%s: malformed XML (line %d): %s",
             what, e ? e->line : 0, msg);
    return NULL;
  }
  if (!xmlDocGetRootElement(doc)) {
    vk_error(VK_EXIT_FAILURE, "%s: empty XML document", what);
    xmlFreeDoc(doc);
    return NULL;
  }
  return doc;
}

char *
vk_xml_format(xmlDocPtr doc)
{
  xmlBufferPtr b = xmlBufferCreate();
  xmlSaveCtxtPtr s = xmlSaveToBuffer(b, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
  xmlSaveDoc(s, doc);
  xmlSaveClose(s);
  char *r = vk_xstrdup((const char *)xmlBufferContent(b));
  xmlBufferFree(b);
  return r;
}

char *
vk_xpath_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
  xmlChar *e = xmlStrdup((const xmlChar *)"string(");
  e = xmlStrcat(e, (const xmlChar *)expr);
  e = xmlStrcat(e, (const xmlChar *)")");
  ctx->node = node ? node : xmlDocGetRootElement(ctx->doc);
  xmlXPathObjectPtr obj = xmlXPathEvalExpression(e, ctx);
  xmlFree(e);
  char *r = NULL;
  if (obj && obj->type == XPATH_STRING && obj->stringval && obj->stringval[0])
    r = vk_xstrdup((const char *)obj->stringval);
  xmlXPathFreeObject(obj);
  return r;
}

xmlXPathObjectPtr
vk_xpath_nodes(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
  ctx->node = node ? node : xmlDocGetRootElement(ctx->doc);
  xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
  if (!obj) {
    /* Only our own fixed expressions reach here: a bug, not user input. */
    fprintf(stderr, "vckpt: internal error: bad XPath '%s'\n", expr);
    abort();
  }
  return obj;
}

int
vk_xpath_count(xmlXPathObjectPtr obj)
{
  return obj && obj->nodesetval ? obj->nodesetval->nodeNr : 0;
}

xmlNodePtr
vk_xml_add_text(xmlNodePtr parent, const char *name, const char *text)
{
  xmlNodePtr n = xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
  xmlNodeAddContent(n, (const xmlChar *)text);
  return n;
}
