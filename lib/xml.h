/* vckpt - libxml2 helpers: parsing, XPath reads, serialisation. */
#ifndef VCKPT_XML_H
#define VCKPT_XML_H

#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "cleanup.h"

/* Parse an XML document from a string (no network, no entities, no DTD);
 * WHAT names the document in error messages.
 */
xmlDocPtr vk_xml_parse(const char *xml, const char *what);
/* Serialise a document (without the XML declaration), indented. */
char *vk_xml_format(xmlDocPtr doc);
/* The string value of an XPath expression relative to NODE, or NULL
 * when it is empty or absent.
 */
char *vk_xpath_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr);
/* The node set of an XPath expression relative to NODE (never NULL). */
xmlXPathObjectPtr vk_xpath_nodes(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr);
/* The number of nodes in an XPath result. */
int vk_xpath_count(xmlXPathObjectPtr obj);
/* Add a child element with text content; returns the new node. */
xmlNodePtr vk_xml_add_text(xmlNodePtr parent, const char *name, const char *text);
/* Set up libxml2 for the process: parse errors are reported by vk_xml_parse. */
void vk_xml_init(void);

#endif
