"""Component `ingest`: validate the reference clips of a source and copy the good ones."""

from kfp.dsl import Dataset, Output

from components import component


@component
def ingest(source: str, dvc_repo: str, dvc_rev: str, concept: str, min_clips: int, tracking_uri: str,
           experiment: str, content_key: str, ingested: Output[Dataset]):
    """`motionlora data ingest` into the `ingested` artifact (manifest.jsonl, rejected.jsonl, clips/).

    `source` is a URL or an absolute folder, read as it is, or a relative path: with `dvc_repo`
    (empty: unset) a DVC-tracked path in that repo at `dvc_rev`, else a folder. `content_key`
    (start-run's) finds the parent run and lets KFP reuse this step while the clips are the same.
    """
    from motionlora.data.ingest import IngestSettings
    from motionlora.data.ingest import ingest as ingest_clips
    from motionlora.data.sources import open_pipeline_source
    from motionlora.tracking.pipeline_run import content_step

    with content_step(tracking_uri, experiment, content_key, "ingest"):
        report = ingest_clips(open_pipeline_source(source, dvc_repo or None, dvc_rev or None), ingested.path,
                              IngestSettings(concept=concept, min_clips=min_clips), progress=False)
    ingested.metadata.update({"accepted": len(report.accepted), "rejected": len(report.rejected), "source": source})
