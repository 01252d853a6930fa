/* vckpt - what every job kind shares (job.h): the table of kinds, setting
 * a job up and closing it.  The kinds themselves are job-KIND.c, one file
 * each; nothing here knows what a kind does.  Progress and messages are
 * flow.c's.
 */
#include <config.h>

#include <string.h>
#include <unistd.h>

#include "job.h"
#include "util.h"
#include "virt.h"

/* Every kind, by enum vk_job_kind (plan.c chooses one for each backup). */
const struct vk_job_ops *const vk_job_kinds[VK_JOB_KINDS] = {
  [VK_JOB_PUSH] = &vk_job_push_ops,
  [VK_JOB_OFFLINE] = &vk_job_offline_ops,
  [VK_JOB_PULL] = &vk_job_pull_ops,
};

/* Set a job of kind KIND up (job.h). */
void
vk_job_init(struct vk_job *job, enum vk_job_kind kind, const struct vk_job_spec *spec)
{
  memset(job, 0, sizeof *job);
  job->ops = vk_job_kinds[kind];
  job->spec = *spec;
}

/* End libvirt's job on DOM and wait for it to be gone (job.h). */
void
vk_job_end_libvirt(virDomainPtr dom)
{
  if (virDomainAbortJob(dom) < 0) {
    vk_debug("ending libvirt's job: %s", vk_virt_last_message());
    return;
  }
  for (int i = 0; i < 300; i++) {   /* up to 30 s for libvirt and QEMU to end it */
    virDomainJobInfo ji;
    if (virDomainGetJobInfo(dom, &ji) < 0 || ji.type == VIR_DOMAIN_JOB_NONE)
      return;
    usleep(100000);
  }
}

/* Close a job once (job.h). */
void
vk_job_close(struct vk_job *job)
{
  if (job->ops && job->ops->close)
    job->ops->close(job);
  job->ops = NULL;
}
