"""The function Ray Train runs on each worker. Kept import-light so the trial driver can
reference it without importing torch and timm itself."""


def run_trial_worker(loop_config: dict) -> None:
    from trainables.loops.trial import trial_loop
    trial_loop(loop_config)
