"""Jobs: training and long computations in worker processes, never in the UI's interpreter."""

from resnet.jobs.handles import CallJob, Job, RunJob, TwinsJob
from resnet.jobs.server import JobError, JobServer, job_server, max_jobs, queue_limit

__all__ = ["CallJob", "Job", "JobError", "JobServer", "RunJob", "TwinsJob", "job_server", "max_jobs",
           "queue_limit"]
