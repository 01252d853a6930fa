/* vckpt - the manifest: the committed backups of one domain
 * (REPO/DOMAIN/manifest.xml, xml/manifest.rng): parse, validate, build,
 * and the consistency rules the schema cannot express.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <libxml/relaxng.h>

#include "fileio.h"
#include "manifest.h"
#include "schema.h"
#include "util.h"
#include "xml.h"

/* libxml2 2.12 made the structured error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *vk_xml_error_ptr;
#else
typedef xmlError *vk_xml_error_ptr;
#endif

/* Free the strings and disks of a backup, not the struct. */
void
vk_backup_clear(struct vk_backup *b)
{
  free(b->id);
  free(b->chain);
  free(b->checkpoint);
  free(b->since);
  free(b->parent);
  free(b->domain_xml);
  free(b->checkpoint_xml);
  free(b->note);
  free(b->identity);
  free(b->host);
  free(b->host_uri);
  free(b->base.checkpoint);
  free(b->base.identity);
  free(b->base.record);
  for (size_t i = 0; i < b->nr_disks; i++) {
    free(b->disks[i].target);
    free(b->disks[i].file);
    free(b->disks[i].backing);
    free(b->disks[i].checksum);
  }
  free(b->disks);
  free(b->nvram.file);
  free(b->nvram.checksum);
  free(b->tpm.file);
  free(b->tpm.checksum);
  memset(b, 0, sizeof *b);
}

/* Free a heap-allocated backup. */
void
vk_backup_free(struct vk_backup *b)
{
  if (b) {
    vk_backup_clear(b);
    free(b);
  }
}

/* strdup that passes NULL through. */
static char *
xstrdup_null(const char *s)
{
  return s ? vk_xstrdup(s) : NULL;
}

/* Deep copy of SRC into DST. */
void
vk_backup_copy(struct vk_backup *dst, const struct vk_backup *src)
{
  *dst = *src;
  dst->id = xstrdup_null(src->id);
  dst->chain = xstrdup_null(src->chain);
  dst->checkpoint = xstrdup_null(src->checkpoint);
  dst->since = xstrdup_null(src->since);
  dst->parent = xstrdup_null(src->parent);
  dst->domain_xml = xstrdup_null(src->domain_xml);
  dst->checkpoint_xml = xstrdup_null(src->checkpoint_xml);
  dst->note = xstrdup_null(src->note);
  dst->identity = xstrdup_null(src->identity);
  dst->host = xstrdup_null(src->host);
  dst->host_uri = xstrdup_null(src->host_uri);
  dst->base.checkpoint = xstrdup_null(src->base.checkpoint);
  dst->base.identity = xstrdup_null(src->base.identity);
  dst->base.record = xstrdup_null(src->base.record);
  dst->disks = vk_xcalloc(src->nr_disks, sizeof *dst->disks);
  for (size_t i = 0; i < src->nr_disks; i++) {
    dst->disks[i] = src->disks[i];
    dst->disks[i].target = xstrdup_null(src->disks[i].target);
    dst->disks[i].file = xstrdup_null(src->disks[i].file);
    dst->disks[i].backing = xstrdup_null(src->disks[i].backing);
    dst->disks[i].checksum = xstrdup_null(src->disks[i].checksum);
  }
  dst->nvram.file = xstrdup_null(src->nvram.file);
  dst->nvram.checksum = xstrdup_null(src->nvram.checksum);
  dst->tpm.file = xstrdup_null(src->tpm.file);
  dst->tpm.checksum = xstrdup_null(src->tpm.checksum);
}

const char *
vk_level_name(enum vk_level level)
{
  switch (level) {
  case VK_LEVEL_FULL: return "full";
  case VK_LEVEL_INCREMENTAL: return "incremental";
  case VK_LEVEL_DIFFERENTIAL: return "differential";
  }
  return "?";
}

/* The prefix of backup ids of LEVEL. */
const char *
vk_level_prefix(enum vk_level level)
{
  switch (level) {
  case VK_LEVEL_FULL: return "full";
  case VK_LEVEL_INCREMENTAL: return "inc";
  case VK_LEVEL_DIFFERENTIAL: return "diff";
  }
  return "?";
}

/* Parse a level name from the manifest (already validated). */
static int
parse_level(const char *s, enum vk_level *out)
{
  for (enum vk_level l = VK_LEVEL_FULL; l <= VK_LEVEL_DIFFERENTIAL; l++)
    if (s && strcmp(s, vk_level_name(l)) == 0) {
      *out = l;
      return 0;
    }
  return -1;
}

/* ---- schema ---- */

/* The first error libxml2 reports while loading or applying the schema. */
struct xml_err {
  char msg[256];
  int line;
  char elem[64];
  bool set;
};

/* Keep the first libxml2 error in DATA (a struct xml_err). */
static void
capture_error(void *data, vk_xml_error_ptr e)
{
  struct xml_err *x = data;
  if (x->set || !e)
    return;
  x->set = true;
  snprintf(x->msg, sizeof x->msg, "%s", e->message ? e->message : "unknown error");
  x->msg[strcspn(x->msg, "\n")] = '\0';
  x->line = e->line;
  xmlNodePtr n = e->node;
  if (n && n->type == XML_ELEMENT_NODE && n->name)
    snprintf(x->elem, sizeof x->elem, "%s", (const char *)n->name);
}

/* Load the manifest schema once per repository object: the copy compiled
 * in, or for development $VCKPT_XMLDIR/manifest.rng when that file exists.
 */
static int
load_schema(xmlRelaxNGPtr *cache)
{
  if (*cache)
    return 0;
  const char *dir = getenv("VCKPT_XMLDIR");
  CLEANUP_FREE char *path = dir && *dir ? vk_xasprintf("%s/manifest.rng", dir) : NULL;
  CLEANUP_FREE char *text = NULL;
  struct stat st;
  if (path && lstat(path, &st) == 0) {
    if (vk_read_file(path, VK_MANIFEST_MAX, &text) < 0)
      return -1;
    vk_debug("using the manifest schema %s ($VCKPT_XMLDIR)", path);
  } else {
    free(path);
    path = vk_xstrdup("(built in)");
  }
  const char *schema = text ? text : (const char *)vk_manifest_rng;
  struct xml_err err = { .set = false };
  xmlRelaxNGParserCtxtPtr pc = xmlRelaxNGNewMemParserCtxt(schema, strlen(schema));
  if (pc) {
    xmlRelaxNGSetParserStructuredErrors(pc, capture_error, &err);
    *cache = xmlRelaxNGParse(pc);
    xmlRelaxNGFreeParserCtxt(pc);
  }
  if (!*cache) {
    vk_error(VK_EXIT_FAILURE, "cannot load the manifest schema %s: %s",
             path, err.set ? err.msg : "unknown error");
    return -1;
  }
  return 0;
}

int
vk_manifest_validate(xmlRelaxNGPtr *schema, xmlDocPtr doc, const char *path, bool internal)
{
  if (load_schema(schema) < 0)
    return -1;
  struct xml_err err = { .set = false };
  xmlRelaxNGValidCtxtPtr vc = xmlRelaxNGNewValidCtxt(*schema);
  if (!vc)
    abort();
  xmlRelaxNGSetValidStructuredErrors(vc, capture_error, &err);
  int rc = xmlRelaxNGValidateDoc(vc, doc);
  xmlRelaxNGFreeValidCtxt(vc);
  if (rc != 0) {
    vk_error(VK_EXIT_FAILURE, "%s%s: does not match the manifest schema: line %d%s%s: %s",
             internal ? "internal error: generated " : "", path, err.line,
             err.elem[0] ? ": element " : "", err.elem, err.set ? err.msg : "invalid");
    return -1;
  }
  return 0;
}

/* ---- building ---- */

/* Add the <domain> element. */
void
vk_manifest_add_domain(xmlNodePtr root, const struct vk_manifest *m)
{
  xmlNodePtr d = xmlNewChild(root, NULL, (const xmlChar *)"domain", NULL);
  vk_xml_add_text(d, "name", m->domain);
  if (m->uuid)
    vk_xml_add_text(d, "uuid", m->uuid);
  if (m->second_copy)
    xmlNewChild(d, NULL, (const xmlChar *)"copy", NULL);
}

/* Add the checksum HEX of algorithm T to the record PARENT: <sha256> as
 * manifests always had it, any other algorithm as <checksum type="T">.
 */
static void
add_checksum(xmlNodePtr parent, enum vk_sum_type t, const char *hex)
{
  if (t == VK_SUM_SHA256) {
    vk_xml_add_text(parent, "sha256", hex ? hex : "");
    return;
  }
  xmlNodePtr n = vk_xml_add_text(parent, "checksum", hex ? hex : "");
  xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)vk_sum_name(t));
}

/* Read the checksum of the record NODE into *HEX and *T (NULL and sha256
 * when it has none).
 */
static void
parse_checksum(xmlXPathContextPtr ctx, xmlNodePtr node, char **hex, enum vk_sum_type *t)
{
  *t = VK_SUM_SHA256;
  *hex = vk_xpath_string(ctx, node, "sha256");
  if (*hex)
    return;
  CLEANUP_FREE char *type = vk_xpath_string(ctx, node, "checksum/@type");
  if (type && vk_sum_parse(type, t) == 0)
    *hex = vk_xpath_string(ctx, node, "checksum");
}

/* Whether backup B has a record of another algorithm than SHA-256. */
static bool
needs_version_2(const struct vk_backup *b)
{
  for (size_t i = 0; i < b->nr_disks; i++)
    if (b->disks[i].checksum_type != VK_SUM_SHA256)
      return true;
  return (b->nvram.file && b->nvram.checksum_type != VK_SUM_SHA256) ||
         (b->tpm.file && b->tpm.checksum_type != VK_SUM_SHA256);
}

/* Add a <backup>; COMMITTED adds what only the manifest has (end, sums). */
void
vk_manifest_add_backup(xmlNodePtr parent, const struct vk_backup *b, bool committed)
{
  char num[32];
  xmlNodePtr n = xmlNewChild(parent, NULL, (const xmlChar *)"backup", NULL);
  xmlNewProp(n, (const xmlChar *)"id", (const xmlChar *)b->id);
  xmlNewProp(n, (const xmlChar *)"level", (const xmlChar *)vk_level_name(b->level));
  if (b->quiesced != VK_QUIESCED_UNKNOWN)
    xmlNewProp(n, (const xmlChar *)"quiesced",
               (const xmlChar *)(b->quiesced == VK_QUIESCED_YES ? "yes" : "no"));
  vk_xml_add_text(n, "chain", b->chain);
  vk_xml_add_text(n, "checkpoint", b->checkpoint);
  if (b->base.checkpoint) {
    xmlNodePtr bn = xmlNewChild(n, NULL, (const xmlChar *)"differentialBase", NULL);
    xmlNewProp(bn, (const xmlChar *)"checkpoint", (const xmlChar *)b->base.checkpoint);
    xmlNewProp(bn, (const xmlChar *)"identity", (const xmlChar *)b->base.identity);
    xmlNewProp(bn, (const xmlChar *)"record", (const xmlChar *)b->base.record);
  }
  if (b->since)
    vk_xml_add_text(n, "since", b->since);
  if (b->parent)
    vk_xml_add_text(n, "parent", b->parent);
  snprintf(num, sizeof num, "%lld", b->start);
  vk_xml_add_text(n, "start", num);
  if (committed) {
    snprintf(num, sizeof num, "%lld", b->end);
    vk_xml_add_text(n, "end", num);
  }
  vk_xml_add_text(n, "domainXML", b->domain_xml);
  vk_xml_add_text(n, "checkpointXML", b->checkpoint_xml);
  if (b->note)
    vk_xml_add_text(n, "note", b->note);
  if (b->identity)
    vk_xml_add_text(n, "identity", b->identity);
  xmlNodePtr disks = xmlNewChild(n, NULL, (const xmlChar *)"disks", NULL);
  for (size_t i = 0; i < b->nr_disks; i++) {
    const struct vk_backup_disk *d = &b->disks[i];
    xmlNodePtr dn = xmlNewChild(disks, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(dn, (const xmlChar *)"target", (const xmlChar *)d->target);
    vk_xml_add_text(dn, "file", d->file);
    if (d->backing)
      vk_xml_add_text(dn, "backing", d->backing);
    if (committed) {
      snprintf(num, sizeof num, "%llu", (unsigned long long)d->virtual_size);
      vk_xml_add_text(dn, "virtualSize", num);
      snprintf(num, sizeof num, "%llu", (unsigned long long)d->bytes);
      vk_xml_add_text(dn, "bytes", num);
      add_checksum(dn, d->checksum_type, d->checksum);
      if (d->file_size) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)d->file_size);
        vk_xml_add_text(dn, "size", num);
      }
      if (d->has_guest_bytes) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)d->guest_bytes);
        vk_xml_add_text(dn, "guestBytes", num);
      }
    }
  }
  /* Host state besides the disks: only when the domain had some. */
  if (committed && (b->nvram.file || b->tpm.file)) {
    xmlNodePtr st = xmlNewChild(n, NULL, (const xmlChar *)"state", NULL);
    const struct vk_state_file *sf[] = { &b->nvram, &b->tpm };
    static const char *const names[] = { "nvram", "tpm" };
    for (size_t i = 0; i < 2; i++) {
      if (!sf[i]->file)
        continue;
      xmlNodePtr fn = xmlNewChild(st, NULL, (const xmlChar *)names[i], NULL);
      vk_xml_add_text(fn, "file", sf[i]->file);
      snprintf(num, sizeof num, "%llu", (unsigned long long)sf[i]->size);
      vk_xml_add_text(fn, "size", num);
      add_checksum(fn, sf[i]->checksum_type, sf[i]->checksum);
    }
  }
  if (committed && b->host) {
    xmlNodePtr hn = vk_xml_add_text(n, "host", b->host);
    if (b->host_uri)
      xmlNewProp(hn, (const xmlChar *)"uri", (const xmlChar *)b->host_uri);
  }
}

xmlDocPtr
vk_manifest_build(const struct vk_manifest *m, const struct vk_backup *extra)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"manifest");
  xmlDocSetRootElement(doc, root);
  /* Version 2 as soon as a record uses another algorithm than SHA-256, so
   * that a vckpt which knows only <sha256> refuses the manifest instead of
   * misreading it.
   */
  bool v2 = extra && needs_version_2(extra);
  for (size_t i = 0; i < m->nr_backups && !v2; i++)
    v2 = needs_version_2(&m->backups[i]);
  xmlNewProp(root, (const xmlChar *)"version", (const xmlChar *)(v2 ? "2" : "1"));
  vk_manifest_add_domain(root, m);
  for (size_t i = 0; i < m->nr_backups; i++)
    vk_manifest_add_backup(root, &m->backups[i], true);
  if (extra)
    vk_manifest_add_backup(root, extra, true);
  for (size_t i = 0; i < m->nr_retired; i++) {
    xmlNodePtr n = xmlNewChild(root, NULL, (const xmlChar *)"retired", NULL);
    xmlNewProp(n, (const xmlChar *)"checkpoint", (const xmlChar *)m->retired[i].checkpoint);
    xmlNewProp(n, (const xmlChar *)"identity", (const xmlChar *)m->retired[i].identity);
  }
  return doc;
}

/* The backup ID among the first UPTO backups of M, or NULL. */
const struct vk_backup *
vk_manifest_find_id(const struct vk_manifest *m, size_t upto, const char *id)
{
  for (size_t i = 0; i < upto && id; i++)
    if (strcmp(m->backups[i].id, id) == 0)
      return &m->backups[i];
  return NULL;
}

const char *
vk_backup_diff_since(const struct vk_backup *full, const char **identity, const char **record)
{
  bool base = full->base.checkpoint != NULL;
  if (identity)
    *identity = base ? full->base.identity : full->identity;
  if (record)
    *record = base ? full->base.record : full->checkpoint_xml;
  return base ? full->base.checkpoint : full->checkpoint;
}

/* The disk TARGET of backup B, or NULL. */
const struct vk_backup_disk *
vk_backup_find_disk(const struct vk_backup *b, const char *target)
{
  for (size_t i = 0; i < b->nr_disks; i++)
    if (strcmp(b->disks[i].target, target) == 0)
      return &b->disks[i];
  return NULL;
}

/* Whether RELATIVE is a file of a committed backup. */
bool
vk_manifest_has_file(const struct vk_manifest *m, const char *relative)
{
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    if (strcmp(b->domain_xml, relative) == 0 || strcmp(b->checkpoint_xml, relative) == 0 ||
        (b->base.record && strcmp(b->base.record, relative) == 0) ||
        (b->nvram.file && strcmp(b->nvram.file, relative) == 0) ||
        (b->tpm.file && strcmp(b->tpm.file, relative) == 0))
      return true;
    for (size_t j = 0; j < b->nr_disks; j++)
      if (strcmp(b->disks[j].file, relative) == 0)
        return true;
  }
  return false;
}

bool
vk_manifest_has_chain(const struct vk_manifest *m, const char *chain)
{
  for (size_t i = 0; i < m->nr_backups; i++)
    if (strcmp(m->backups[i].chain, chain) == 0)
      return true;
  return false;
}

struct vk_time_check *
vk_manifest_check_times(const struct vk_manifest *m, long long now, size_t *wrong)
{
  *wrong = 0;
  if (m->nr_backups == 0)
    return NULL;
  long long *times = vk_xcalloc(m->nr_backups, sizeof *times);
  for (size_t i = 0; i < m->nr_backups; i++)
    times[i] = m->backups[i].start;
  struct vk_time_check *c = vk_xcalloc(m->nr_backups, sizeof *c);
  *wrong = vk_times_check(times, m->nr_backups, now, c);
  free(times);
  return c;
}

char *
vk_manifest_time_fault(const struct vk_manifest *m, size_t i, const struct vk_time_check *c,
                       long long now)
{
  const struct vk_backup *b = &m->backups[i];
  char when[64], other[64];
  vk_format_time(b->start, when, sizeof when);
  if (c->fault == VK_TIME_FUTURE) {
    vk_format_time(now, other, sizeof other);
    return vk_xasprintf("backup %s: its recorded time, %s, is later than the host's clock now "
                        "(%s): the clock was ahead when it was made, or is behind now", b->id,
                        when, other);
  }
  const struct vk_backup *o = &m->backups[c->other];
  vk_format_time(o->start, other, sizeof other);
  if (c->other > i)
    return vk_xasprintf("backup %s: its recorded time, %s, is later than that of backup %s, "
                        "made after it (%s): the clock was ahead when %s was made, or behind "
                        "when %s was", b->id, when, o->id, other, b->id, o->id);
  return vk_xasprintf("backup %s: its recorded time, %s, is earlier than that of backup %s, "
                      "made before it (%s): the clock was behind when %s was made, or ahead "
                      "when %s was", b->id, when, o->id, other, b->id, o->id);
}

char *
vk_backup_state_name(const char *chain, const char *id, bool tpm)
{
  return vk_xasprintf("%s/%s.%s", chain, id, tpm ? "tpm2-00.permall" : "nvram.fd");
}

void
vk_backup_name(struct vk_backup *b, int n, const struct vk_backup *p, char *const *whole)
{
  char stamp[VK_STAMP_LEN];
  vk_utc_stamp(b->start, stamp);
  CLEANUP_FREE char *unique = n <= 1 ? vk_xstrdup(stamp) : vk_xasprintf("%s-%d", stamp, n);
  if (b->level == VK_LEVEL_FULL) {
    free(b->chain);
    b->chain = vk_xstrdup(unique);
  }
  free(b->id);
  b->id = vk_xasprintf("%s-%s", vk_level_prefix(b->level), unique);
  free(b->domain_xml);
  free(b->checkpoint_xml);
  b->domain_xml = vk_xasprintf("%s/%s.domain.xml", b->chain, b->id);
  b->checkpoint_xml = vk_xasprintf("%s/%s.checkpoint.xml", b->chain, b->id);
  for (size_t i = 0; i < b->nr_disks; i++) {
    struct vk_backup_disk *d = &b->disks[i];
    free(d->file);
    d->file = vk_backup_disk_file(b->chain, b->id, d->target);
    if (p && !d->backing && !(whole && vk_strv_contains(whole, d->target)))
      d->backing = vk_xstrdup(vk_backup_find_disk(p, d->target)->file);
  }
}

/* The file names of backup ID in CHAIN. */
char *
vk_backup_disk_file(const char *chain, const char *id, const char *target)
{
  return vk_xasprintf("%s/%s.%s.qcow2", chain, id, target);
}

unsigned
vk_backup_disk_file_rev(const struct vk_backup *b, const struct vk_backup_disk *d)
{
  /* "CHAIN/ID-rN.TARGET.qcow2": ids hold no '.', so the revision is
   * never confused with a part of the target's name.
   */
  size_t lc = strlen(b->chain), li = strlen(b->id);
  const char *f = d->file;
  if (strncmp(f, b->chain, lc) != 0 || f[lc] != '/' || strncmp(f + lc + 1, b->id, li) != 0)
    return 0;
  const char *p = f + lc + 1 + li;
  if (p[0] != '-' || p[1] != 'r' || p[2] < '1' || p[2] > '9')
    return 0;
  unsigned rev = 0;
  for (p += 2; *p >= '0' && *p <= '9'; p++) {
    rev = rev * 10 + (*p - '0');
    if (rev > VK_MAX_REV)
      return 0;
  }
  size_t lt = strlen(d->target);
  if (*p != '.' || strncmp(p + 1, d->target, lt) != 0 || strcmp(p + 1 + lt, ".qcow2") != 0)
    return 0;
  return rev;
}

char *
vk_backup_disk_file_at(const char *chain, const char *id, const char *target, unsigned rev)
{
  if (rev == 0)
    return vk_backup_disk_file(chain, id, target);
  return vk_xasprintf("%s/%s-r%u.%s.qcow2", chain, id, rev, target);
}

/* Check the differential base of backup B: a full backup's, its record
 * the saved checkpoint XML of an earlier backup of the same chain
 * ("CHAIN/ID.checkpoint.xml", ID of the form of a backup id) and not B's
 * own.
 */
static int
check_base(const char *path, const struct vk_backup *b)
{
  const char *r = b->base.record;
  size_t lc = strlen(b->chain), lr = r ? strlen(r) : 0;
  static const char suffix[] = ".checkpoint.xml";
  size_t ls = sizeof suffix - 1;
  bool ok = b->level == VK_LEVEL_FULL && b->base.identity && r && lr > lc + 1 + ls &&
            strncmp(r, b->chain, lc) == 0 && r[lc] == '/' && strcmp(r + lr - ls, suffix) == 0 &&
            strcmp(r, b->checkpoint_xml) != 0 && strcmp(b->base.checkpoint, b->checkpoint) != 0;
  const char *id = r ? r + lc + 1 : "";
  size_t li = lr > lc + 1 + ls ? lr - lc - 1 - ls : 0;
  ok = ok && (strncmp(id, "full-", 5) == 0 || strncmp(id, "inc-", 4) == 0 ||
              strncmp(id, "diff-", 5) == 0);
  for (size_t i = 0; ok && i < li; i++)
    ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
         (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-';
  if (!ok) {
    vk_error(VK_EXIT_FAILURE, "%s: backup %s: its differential base must belong to a full "
             "backup and be recorded as another backup's 'CHAIN/ID.checkpoint.xml' of its "
             "chain", path, b->id);
    return -1;
  }
  return 0;
}

/* Check what the schema cannot: file names are exactly those derived from
 * the chain, id and target (so no name leads outside the repository), and
 * the links to the parent among the first UPTO backups of M hold.
 */
int
vk_manifest_check_backup(const char *path, const struct vk_manifest *m, size_t upto,
             const struct vk_backup *b)
{
  /* A full backup may carry the id of the incremental or differential
   * backup it was made from when retention merged its chain's full into it.
   */
  CLEANUP_FREE char *prefix = vk_xasprintf("%s-", vk_level_prefix(b->level));
  if (strncmp(b->id, prefix, strlen(prefix)) != 0 && b->level != VK_LEVEL_FULL) {
    vk_error(VK_EXIT_FAILURE, "%s: backup %s: id does not match level %s",
             path, b->id, vk_level_name(b->level));
    return -1;
  }
  CLEANUP_FREE char *dx = vk_xasprintf("%s/%s.domain.xml", b->chain, b->id);
  CLEANUP_FREE char *cx = vk_xasprintf("%s/%s.checkpoint.xml", b->chain, b->id);
  if (strcmp(b->domain_xml, dx) != 0 || strcmp(b->checkpoint_xml, cx) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: backup %s: XML file names must be '%s' and '%s'",
             path, b->id, dx, cx);
    return -1;
  }
  if (b->base.checkpoint && check_base(path, b) < 0)
    return -1;
  const struct vk_state_file *sf[] = { &b->nvram, &b->tpm };
  for (size_t i = 0; i < 2; i++) {
    CLEANUP_FREE char *want = vk_backup_state_name(b->chain, b->id, i == 1);
    if (sf[i]->file && strcmp(sf[i]->file, want) != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: its %s file must be '%s'", path, b->id,
               i ? "TPM state" : "NVRAM", want);
      return -1;
    }
  }
  const struct vk_backup *p = NULL;
  if (b->level != VK_LEVEL_FULL) {
    p = vk_manifest_find_id(m, upto, b->parent);
    if (!p) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: parent %s is not an earlier backup",
               path, b->id, b->parent);
      return -1;
    }
    /* A differential backup of a full one with a differential base
     * (prune.h) is taken from that base.
     */
    bool since_ok = strcmp(p->checkpoint, b->since) == 0 ||
                    (b->level == VK_LEVEL_DIFFERENTIAL && p->base.checkpoint &&
                     strcmp(p->base.checkpoint, b->since) == 0);
    if (strcmp(p->chain, b->chain) != 0 || !since_ok ||
        (b->level == VK_LEVEL_DIFFERENTIAL && p->level != VK_LEVEL_FULL)) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: does not match its parent %s "
               "(chain, checkpoint or level)", path, b->id, p->id);
      return -1;
    }
  }
  for (size_t i = 0; i < b->nr_disks; i++) {
    const struct vk_backup_disk *d = &b->disks[i];
    CLEANUP_FREE char *want = vk_backup_disk_file(b->chain, b->id, d->target);
    if (strcmp(d->file, want) != 0 && vk_backup_disk_file_rev(b, d) == 0) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: disk %s: file must be '%s' (or a "
               "revision of it written by prune)", path, b->id, d->target, want);
      return -1;
    }
    if (vk_backup_find_disk(b, d->target) != d) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: disk %s listed twice", path, b->id, d->target);
      return -1;
    }
    /* A disk of a non-full backup without a backing file was copied whole
     * (raw, added or resized since the parent).
     */
    const struct vk_backup_disk *pd = p ? vk_backup_find_disk(p, d->target) : NULL;
    if ((d->backing && (!pd || strcmp(pd->file, d->backing) != 0)) || (!p && d->backing)) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: disk %s: backing file must be %s%s%s",
               path, b->id, d->target, pd ? "'" : "", pd ? pd->file : "absent",
               pd ? "'" : "");
      return -1;
    }
  }
  return 0;
}

/* Read one <backup> element (validated) into B. */
int
vk_manifest_parse_backup(xmlXPathContextPtr ctx, xmlNodePtr node, const char *path, struct vk_backup *b)
{
  b->id = vk_xpath_string(ctx, node, "@id");
  CLEANUP_FREE char *level = vk_xpath_string(ctx, node, "@level");
  if (!b->id || parse_level(level, &b->level) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: backup without id or level", path);
    return -1;
  }
  b->chain = vk_xpath_string(ctx, node, "chain");
  b->checkpoint = vk_xpath_string(ctx, node, "checkpoint");
  b->since = vk_xpath_string(ctx, node, "since");
  b->parent = vk_xpath_string(ctx, node, "parent");
  b->domain_xml = vk_xpath_string(ctx, node, "domainXML");
  b->checkpoint_xml = vk_xpath_string(ctx, node, "checkpointXML");
  b->note = vk_xpath_string(ctx, node, "note");
  b->identity = vk_xpath_string(ctx, node, "identity");
  b->host = vk_xpath_string(ctx, node, "host");
  b->host_uri = vk_xpath_string(ctx, node, "host/@uri");
  b->base.checkpoint = vk_xpath_string(ctx, node, "differentialBase/@checkpoint");
  b->base.identity = vk_xpath_string(ctx, node, "differentialBase/@identity");
  b->base.record = vk_xpath_string(ctx, node, "differentialBase/@record");
  CLEANUP_FREE char *quiesced = vk_xpath_string(ctx, node, "@quiesced");
  b->quiesced = !quiesced ? VK_QUIESCED_UNKNOWN
              : strcmp(quiesced, "yes") == 0 ? VK_QUIESCED_YES : VK_QUIESCED_NO;
  CLEANUP_FREE char *start = vk_xpath_string(ctx, node, "start");
  CLEANUP_FREE char *end = vk_xpath_string(ctx, node, "end");
  b->start = start ? strtoll(start, NULL, 10) : 0;
  b->end = end ? strtoll(end, NULL, 10) : 0;

  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks = vk_xpath_nodes(ctx, node, "disks/disk");
  int n = vk_xpath_count(disks);
  b->disks = vk_xcalloc(n, sizeof *b->disks);
  for (int i = 0; i < n; i++) {
    xmlNodePtr dn = disks->nodesetval->nodeTab[i];
    struct vk_backup_disk *d = &b->disks[b->nr_disks++];
    d->target = vk_xpath_string(ctx, dn, "@target");
    d->file = vk_xpath_string(ctx, dn, "file");
    d->backing = vk_xpath_string(ctx, dn, "backing");
    parse_checksum(ctx, dn, &d->checksum, &d->checksum_type);
    CLEANUP_FREE char *vs = vk_xpath_string(ctx, dn, "virtualSize");
    CLEANUP_FREE char *bytes = vk_xpath_string(ctx, dn, "bytes");
    CLEANUP_FREE char *size = vk_xpath_string(ctx, dn, "size");
    CLEANUP_FREE char *guest = vk_xpath_string(ctx, dn, "guestBytes");
    d->virtual_size = vs ? strtoull(vs, NULL, 10) : 0;
    d->bytes = bytes ? strtoull(bytes, NULL, 10) : 0;
    d->file_size = size ? strtoull(size, NULL, 10) : 0;
    d->has_guest_bytes = guest != NULL;
    d->guest_bytes = guest ? strtoull(guest, NULL, 10) : 0;
  }
  struct vk_state_file *sf[] = { &b->nvram, &b->tpm };
  static const char *const sn[] = { "state/nvram", "state/tpm" };
  for (size_t i = 0; i < 2; i++) {
    CLEANUP_XPATHOBJ xmlXPathObjectPtr sx = vk_xpath_nodes(ctx, node, sn[i]);
    if (vk_xpath_count(sx) != 1)
      continue;
    xmlNodePtr sxn = sx->nodesetval->nodeTab[0];
    sf[i]->file = vk_xpath_string(ctx, sxn, "file");
    parse_checksum(ctx, sxn, &sf[i]->checksum, &sf[i]->checksum_type);
    CLEANUP_FREE char *size = vk_xpath_string(ctx, sxn, "size");
    sf[i]->size = size ? strtoull(size, NULL, 10) : 0;
  }
  if (!b->chain || !b->checkpoint || !b->domain_xml || !b->checkpoint_xml ||
      (b->level != VK_LEVEL_FULL && (!b->since || !b->parent))) {
    vk_error(VK_EXIT_FAILURE, "%s: backup %s: incomplete", path, b->id);
    return -1;
  }
  for (size_t i = 0; i < b->nr_disks; i++)
    if (!b->disks[i].target || !b->disks[i].file) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: incomplete disk", path, b->id);
      return -1;
    }
  return 0;
}

int
vk_manifest_load_doc(int dirfd, const char *name, const char *path, const char *root,
                     xmlRelaxNGPtr *schema, xmlDocPtr *doc)
{
  *doc = NULL;
  CLEANUP_FREE char *text = NULL;
  if (vk_read_file_at(dirfd, name, path, VK_MANIFEST_MAX,
                      VK_READ_NOFOLLOW | VK_READ_MISSING_OK | VK_READ_NONEMPTY, &text) < 0)
    return -1;
  if (!text)
    return 0;
  return vk_manifest_doc_from_text(text, path, root, schema, doc);
}

int
vk_manifest_doc_from_text(const char *text, const char *path, const char *root,
                          xmlRelaxNGPtr *schema, xmlDocPtr *doc)
{
  *doc = NULL;
  CLEANUP_XMLDOC xmlDocPtr d = vk_xml_parse(text, path);
  if (!d)
    return -1;
  if (xmlStrcmp(xmlDocGetRootElement(d)->name, (const xmlChar *)root) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: root element is <%s>, expected <%s>",
             path, (const char *)xmlDocGetRootElement(d)->name, root);
    return -1;
  }
  /* The journal has a version 2 (journal.h: kinds and steps); so has the
   * manifest (records with a <checksum> other than <sha256>:
   * vk_manifest_parse refuses one in a version 1 manifest).
   */
  xmlChar *version = xmlGetProp(xmlDocGetRootElement(d), (const xmlChar *)"version");
  bool known = !version || xmlStrcmp(version, (const xmlChar *)"1") == 0 ||
               xmlStrcmp(version, (const xmlChar *)"2") == 0;
  if (!known)
    vk_error(VK_EXIT_FAILURE, "%s: format version %.20s is not supported by this vckpt "
             "(it reads version 1 and 2)", path, (const char *)version);
  xmlFree(version);
  if (!known || vk_manifest_validate(schema, d, path, false) < 0)
    return -1;
  *doc = d;
  d = NULL;
  return 0;
}

/* ---- reading ---- */

int
vk_manifest_parse(xmlDocPtr doc, const char *path, const char *domain, struct vk_manifest *m)
{
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_FREE char *version = vk_xpath_string(ctx, NULL, "/manifest/@version");
  bool v1 = !version || strcmp(version, "1") == 0;
  CLEANUP_FREE char *name = vk_xpath_string(ctx, NULL, "/manifest/domain/name");
  if (name && strcmp(name, domain) != 0)
    vk_warn("%s records domain '%s'; the next backup will record '%s'", path, name, domain);
  m->uuid = vk_xpath_string(ctx, NULL, "/manifest/domain/uuid");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr copy = vk_xpath_nodes(ctx, NULL, "/manifest/domain/copy");
  m->second_copy = vk_xpath_count(copy) > 0;
  CLEANUP_XPATHOBJ xmlXPathObjectPtr nodes = vk_xpath_nodes(ctx, NULL, "/manifest/backup");
  int n = vk_xpath_count(nodes);
  m->backups = vk_xcalloc(n, sizeof *m->backups);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr ret = vk_xpath_nodes(ctx, NULL, "/manifest/retired");
  for (int i = 0; i < vk_xpath_count(ret); i++) {
    CLEANUP_FREE char *ck = vk_xpath_string(ctx, ret->nodesetval->nodeTab[i], "@checkpoint");
    CLEANUP_FREE char *id = vk_xpath_string(ctx, ret->nodesetval->nodeTab[i], "@identity");
    if (!ck || !id) {
      vk_error(VK_EXIT_FAILURE, "%s: incomplete retired checkpoint", path);
      return -1;
    }
    vk_manifest_add_retired(m, ck, id);
  }
  for (int i = 0; i < n; i++) {
    struct vk_backup *b = &m->backups[m->nr_backups++];
    if (vk_manifest_parse_backup(ctx, nodes->nodesetval->nodeTab[i], path, b) < 0 ||
        vk_manifest_check_backup(path, m, i, b) < 0)
      return -1;
    if (vk_manifest_find_id(m, i, b->id)) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s listed twice", path, b->id);
      return -1;
    }
    /* A version 1 manifest is what a vckpt without <checksum> reads. */
    if (v1 && needs_version_2(b)) {
      vk_error(VK_EXIT_FAILURE, "%s: backup %s: a <checksum> record in a format version 1 "
               "manifest", path, b->id);
      return -1;
    }
  }
  return 0;
}

void
vk_manifest_add_retired(struct vk_manifest *m, const char *checkpoint, const char *identity)
{
  m->retired = vk_xrealloc(m->retired, (m->nr_retired + 1) * sizeof *m->retired);
  m->retired[m->nr_retired++] = (struct vk_retired) {
    .checkpoint = vk_xstrdup(checkpoint), .identity = vk_xstrdup(identity),
  };
}

void
vk_manifest_clear(struct vk_manifest *m)
{
  for (size_t i = 0; i < m->nr_retired; i++) {
    free(m->retired[i].checkpoint);
    free(m->retired[i].identity);
  }
  free(m->retired);
  for (size_t i = 0; i < m->nr_backups; i++)
    vk_backup_clear(&m->backups[i]);
  free(m->backups);
  free(m->domain);
  free(m->uuid);
  memset(m, 0, sizeof *m);
}

/* ---- a manifest read elsewhere ---- */

int
vk_manifest_from_text(const char *text, const char *path, const char *domain,
                      struct vk_manifest *m)
{
  xmlRelaxNGPtr schema = NULL;
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  m->domain = vk_xstrdup(domain);
  int r = vk_manifest_doc_from_text(text, path, "manifest", &schema, &doc);
  if (schema)
    xmlRelaxNGFree(schema);
  if (r < 0)
    return -1;
  return vk_manifest_parse(doc, path, domain, m);
}
