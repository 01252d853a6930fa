/* vckpt - the catalogue of findings (findings.h). */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "findings.h"

#define E VK_SEV_ERROR
#define W VK_SEV_WARNING
#define I VK_SEV_INFO

/* Sorted by code (vk_finding_lookup searches it with bsearch). */
const struct vk_finding_def vk_findings[] = {
  { "backing-loop", E, VK_FIX_REPAIR_IMAGE,
    "the backing chain of a disk image loops" },
  { "backing-missing", E, VK_FIX_RESTORE_FILE,
    "a backing file of a disk image does not exist" },
  { "backing-unsupported", W, VK_FIX_NONE,
    "part of a backing chain is not a local file vckpt can inspect" },
  { "backup-time-wrong", W, VK_FIX_NONE,
    "a backup's recorded time is in the future or out of the order the backups were made in" },
  { "bitmap-disabled", E, VK_FIX_NEW_FULL_CHAIN,
    "a checkpoint's bitmap is not recording, so writes were not tracked" },
  { "bitmap-exists", E, VK_FIX_CHOOSE_NAME,
    "an image already has a bitmap of the name the new checkpoint would take" },
  { "bitmap-gap", E, VK_FIX_NEW_FULL_CHAIN,
    "a checkpoint's bitmap is missing from an image above one that has it" },
  { "bitmap-inconsistent", E, VK_FIX_NEW_FULL_CHAIN,
    "a checkpoint's bitmap was not saved cleanly" },
  { "bitmap-invalid", E, VK_FIX_REMOVE_BITMAP,
    "a bitmap QEMU would refuse to load" },
  { "bitmap-missing", E, VK_FIX_NEW_FULL_CHAIN,
    "a checkpoint's bitmap is missing, so writes were not tracked" },
  { "bitmap-orphan", W, VK_FIX_REDEFINE_CHECKPOINT,
    "an image has a bitmap that no libvirt checkpoint owns" },
  { "bitmaps-ignored", W, VK_FIX_NEW_FULL_CHAIN,
    "a program without bitmap support changed the image; QEMU drops its bitmaps" },
  { "chain-broken", E, VK_FIX_NEW_FULL_CHAIN,
    "a backup file's backing file is not the one the manifest records" },
  { "chain-unknown", W, VK_FIX_INSPECT,
    "a chain directory the manifest does not record" },
  { "checkpoint-bitmap-missing", W, VK_FIX_DELETE_CHECKPOINT_METADATA,
    "a checkpoint has no usable bitmap on a disk and cannot serve an incremental" },
  { "checkpoint-not-found", E, VK_FIX_NEW_FULL_CHAIN,
    "libvirt has no checkpoint of that name" },
  { "checkpoint-replaced", E, VK_FIX_NEW_FULL_CHAIN,
    "the checkpoint was deleted and re-created since the backup that ended at it" },
  { "checkpoint-unverified", E, VK_FIX_NEW_FULL_CHAIN,
    "whether the checkpoint is the one the previous backup ended at is unknown" },
  { "checksum-mismatch", E, VK_FIX_NEW_FULL_CHAIN,
    "a backup file's checksum differs from the recorded one" },
  { "copy-unreadable", E, VK_FIX_INSPECT,
    "a file of a copy in a restic repository cannot be read back" },
  { "disk-not-covered", W, VK_FIX_EXCLUDE_DISK,
    "the checkpoint does not track a disk, so it is copied whole" },
  { "disk-not-in-backup", W, VK_FIX_EXCLUDE_DISK,
    "the previous backup does not have a disk, so it is copied whole" },
  { "disk-not-inspected", W, VK_FIX_NONE,
    "a disk that is not a local file cannot be inspected" },
  { "disk-raw", W, VK_FIX_EXCLUDE_DISK,
    "a raw disk has no persistent bitmaps, so it is copied whole" },
  { "disk-resized", W, VK_FIX_EXCLUDE_DISK,
    "a disk was resized since the checkpoint, so it is copied whole" },
  { "file-missing", E, VK_FIX_NEW_FULL_CHAIN,
    "a file of a recorded backup is missing" },
  { "file-owner", E, VK_FIX_FIX_PERMISSIONS,
    "a backup file is not vckpt's user's alone (owner or mode)" },
  { "file-unknown", W, VK_FIX_INSPECT,
    "a file in the repository that the manifest does not know" },
  { "file-unreadable", E, VK_FIX_FIX_PERMISSIONS,
    "a file or directory of the repository cannot be read" },
  { "image-corrupt", E, VK_FIX_REPAIR_IMAGE,
    "a disk image is marked corrupt" },
  { "image-dirty", W, VK_FIX_REPAIR_IMAGE,
    "a disk image was not closed cleanly" },
  { "image-locked", E, VK_FIX_STOP_PROCESS,
    "the domain is shut off but another process holds its image open" },
  { "image-operation-pending", E, VK_FIX_FINISH_OPERATION,
    "an overlay or commit of the domain's images was interrupted and must be finished" },
  { "image-unreadable", E, VK_FIX_REPAIR_IMAGE,
    "an image or its backing chain cannot be read as qcow2" },
  { "job-running", E, VK_FIX_WAIT_FOR_JOB,
    "another job is running on the domain or the disk" },
  { "manifest-missing", E, VK_FIX_RESTORE_FILE,
    "the repository has backups but no manifest.xml" },
  { "no-checkpoint", I, VK_FIX_NEW_FULL_CHAIN,
    "the domain has no checkpoint, so only a full backup is possible" },
  { "no-space", E, VK_FIX_FREE_SPACE,
    "the repository has less free space than the backup needs" },
  { "previous-backup-damaged", E, VK_FIX_NEW_FULL_CHAIN,
    "the chain of the backup an incremental would stack on is damaged" },
  { "previous-backup-missing", E, VK_FIX_NEW_FULL_CHAIN,
    "the repository has no backup an incremental or differential can stack on" },
  { "qemu-cannot-reach", E, VK_FIX_FIX_PERMISSIONS,
    "QEMU's user cannot search a directory it must open files in" },
  { "qemu-img-check", E, VK_FIX_NEW_FULL_CHAIN,
    "qemu-img check found errors in a backup file" },
  { "remote-shut-off", E, VK_FIX_NONE,
    "a shut-off domain of a remote host cannot be backed up from here" },
  { "restic-check", E, VK_FIX_INSPECT,
    "restic check found errors in the restic repository holding a copy" },
  { "size-mismatch", E, VK_FIX_NEW_FULL_CHAIN,
    "a backup file's virtual size differs from the recorded one" },
  { "target-not-writable", E, VK_FIX_FIX_PERMISSIONS,
    "the repository directory is not writable" },
};
const size_t vk_nr_findings = sizeof vk_findings / sizeof vk_findings[0];

static const char *const fix_names[VK_FIX_COUNT_] = {
  [VK_FIX_NONE] = "none",
  [VK_FIX_NEW_FULL_CHAIN] = "new-full-chain",
  [VK_FIX_DELETE_CHECKPOINT_METADATA] = "delete-checkpoint-metadata",
  [VK_FIX_REMOVE_BITMAP] = "remove-bitmap",
  [VK_FIX_REDEFINE_CHECKPOINT] = "redefine-checkpoint",
  [VK_FIX_EXCLUDE_DISK] = "exclude-disk",
  [VK_FIX_WAIT_FOR_JOB] = "wait-for-job",
  [VK_FIX_FREE_SPACE] = "free-space",
  [VK_FIX_FIX_PERMISSIONS] = "fix-permissions",
  [VK_FIX_RESTORE_FILE] = "restore-file",
  [VK_FIX_REPAIR_IMAGE] = "repair-image",
  [VK_FIX_CHOOSE_NAME] = "choose-name",
  [VK_FIX_STOP_PROCESS] = "stop-process",
  [VK_FIX_INSPECT] = "inspect",
  [VK_FIX_FINISH_OPERATION] = "finish-operation",
};

static int
compare_code(const void *key, const void *row)
{
  return strcmp(key, ((const struct vk_finding_def *)row)->code);
}

const struct vk_finding_def *
vk_finding_lookup(const char *code)
{
  if (!code)
    return NULL;
  return bsearch(code, vk_findings, vk_nr_findings, sizeof vk_findings[0], compare_code);
}

const char *
vk_fix_name(enum vk_fix fix)
{
  return (unsigned)fix < VK_FIX_COUNT_ && fix_names[fix] ? fix_names[fix] : "none";
}

const char *
vk_severity_name(enum vk_severity s)
{
  return s == VK_SEV_ERROR ? "error" : s == VK_SEV_WARNING ? "warning" : "info";
}
