"""Submit the compiled pipeline to a Kubeflow Pipelines endpoint, once or on a schedule.

The bearer token comes from the environment (KFP_TOKEN), never from the command line, where it
would end up in shell history and process listings.
"""

import os
from pathlib import Path
from typing import Any, Mapping

TOKEN_ENV = "KFP_TOKEN"


def client(host: str, namespace: str) -> Any:
    """A kfp.Client for `host` in `namespace`, authenticated with $KFP_TOKEN when it is set."""
    import kfp

    return kfp.Client(host=host, namespace=namespace, existing_token=os.environ.get(TOKEN_ENV) or None)


def submit(kfp_client: Any, package: Path, arguments: Mapping[str, Any], experiment: str, namespace: str,
           run_name: str | None = None) -> str:
    """Start one run of the compiled `package`; returns the KFP run id."""
    result = kfp_client.create_run_from_pipeline_package(
        str(package), arguments=dict(arguments), run_name=run_name, experiment_name=experiment, namespace=namespace)
    return result.run_id


def check_cron(cron: str) -> str:
    """`cron` if it has KFP's 6 fields (seconds first: "0 0 2 * * *" is 02:00 daily), else ValueError."""
    if len(cron.split()) != 6:
        raise ValueError(f"--cron {cron!r}: KFP wants 6 fields, seconds first (e.g. \"0 0 2 * * *\" for 02:00 daily)")
    return cron


def schedule(kfp_client: Any, package: Path, arguments: Mapping[str, Any], experiment: str, namespace: str, cron: str,
             name: str) -> str:
    """Create a recurring run (one at a time, no catch-up of missed runs) on the 6-field `cron`."""
    experiment_id = kfp_client.create_experiment(experiment, namespace=namespace).experiment_id
    job = kfp_client.create_recurring_run(experiment_id=experiment_id, job_name=name, cron_expression=cron,
                                          params=dict(arguments), pipeline_package_path=str(package),
                                          max_concurrency=1, no_catchup=True)
    return job.recurring_run_id
