"""The Jobs tab: the job history (this window's runs and a CLI's), each job's log, its
actions (Resume, Retry, Cancel, Open variant), and notifications when long runs end."""
