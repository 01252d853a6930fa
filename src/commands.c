/* vckpt - the command table.  One entry per command; help, --synopsis and
 * dispatch are all generated from it.
 */
#include <config.h>

#include "vckpt.h"

extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_bitmaps_entry;
extern const struct cmd_entry cmd_validate_entry;
extern const struct cmd_entry cmd_repair_entry;
extern const struct cmd_entry cmd_backup_entry;
extern const struct cmd_entry cmd_restore_entry;
extern const struct cmd_entry cmd_verify_entry;
extern const struct cmd_entry cmd_prune_entry;
extern const struct cmd_entry cmd_copy_entry;
extern const struct cmd_entry cmd_config_check_entry;
extern const struct cmd_entry cmd_list_backups_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_checkpoint_create_entry;
extern const struct cmd_entry cmd_checkpoint_list_entry;
extern const struct cmd_entry cmd_checkpoint_info_entry;
extern const struct cmd_entry cmd_checkpoint_dumpxml_entry;
extern const struct cmd_entry cmd_checkpoint_delete_entry;
extern const struct cmd_entry cmd_checkpoint_redefine_entry;
extern const struct cmd_entry cmd_complete_entry;
extern const struct cmd_entry cmd_quiesce_guard_entry;
extern const struct cmd_entry cmd_overlay_create_entry;
extern const struct cmd_entry cmd_commit_entry;
extern const struct cmd_entry cmd_files_ls_entry;
extern const struct cmd_entry cmd_files_get_entry;
extern const struct cmd_entry cmd_files_diff_entry;
extern const struct cmd_entry cmd_files_mount_entry;
extern const struct cmd_entry cmd_files_umount_entry;
extern const struct cmd_entry cmd_files_serve_entry;

const struct cmd_entry *const cmd_table[] = {
  &cmd_checkpoint_create_entry,
  &cmd_checkpoint_list_entry,
  &cmd_checkpoint_info_entry,
  &cmd_checkpoint_dumpxml_entry,
  &cmd_checkpoint_delete_entry,
  &cmd_checkpoint_redefine_entry,
  &cmd_validate_entry,
  &cmd_repair_entry,
  &cmd_backup_entry,
  &cmd_list_backups_entry,
  &cmd_status_entry,
  &cmd_restore_entry,
  &cmd_verify_entry,
  &cmd_files_ls_entry,
  &cmd_files_get_entry,
  &cmd_files_diff_entry,
  &cmd_files_mount_entry,
  &cmd_files_umount_entry,
  &cmd_files_serve_entry,
  &cmd_overlay_create_entry,
  &cmd_commit_entry,
  &cmd_prune_entry,
  &cmd_copy_entry,
  &cmd_config_check_entry,
  &cmd_bitmaps_entry,
  &cmd_help_entry,
  &cmd_complete_entry,
  &cmd_quiesce_guard_entry,
  NULL,
};
