"""The DAG: start-run → ingest → preprocess → train → evaluate → register → [gate passed] promote,
inside an exit handler (finish-run) that closes the MLflow parent run either way — FAILED, with the
failed step and its cause, and the run's registrations withdrawn, if any step failed.

Ingest, preprocess, train and evaluate are cached: they take start-run's content key (the clips,
base model, recipe and CLIP by content, and those steps' settings) instead of the parent run's id,
so a run with the same data, model, recipe and settings reuses their outputs; start-run, register,
promote and finish-run record under each run's own parent run and always run.

Parameter defaults are the embedded local run (`make run`): the DVC sample concept `bounce`, the
shapes-world base model and CLIP shipped in `models/`, small settings. A cluster run passes its own (see README "Pipeline").
"""

from kfp import dsl, kubernetes

from components.evaluate import evaluate
from components.finish_run import finish_run
from components.ingest import ingest
from components.preprocess import preprocess
from components.promote import promote
from components.register import register
from components.start_run import start_run
from components.train import train
from pipelines import placement

PIPELINE_NAME = "motion-customization"
# Other appearances than the references' (colour, shape and background all differ); as configs/shapes.yaml.
EVAL_PROMPTS = [
    "a magenta square bouncing on a black background",
    "a red triangle bouncing on a black background",
    "a magenta triangle bouncing on a gray background",
    "a green triangle bouncing on a white background",
]


def _place_on_gpu_nodes(task: dsl.PipelineTask) -> None:
    """The train step's pod: hardened with more CPU and memory, the launcher's settings, GPUs, node
    selector, tolerations, retries and a timeout."""
    _harden(task, placement.TRAIN_RESOURCES)
    kubernetes.use_config_map_as_env(task, placement.LAUNCH_CONFIG_MAP, {key: key for key in placement.LAUNCH_KEYS})
    task.set_accelerator_type(placement.GPU_RESOURCE).set_accelerator_limit(placement.TRAIN_GPUS)
    for key, value in placement.GPU_NODE_SELECTOR.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for toleration in placement.GPU_TOLERATIONS:
        kubernetes.add_toleration(task, **toleration)
    task.set_retry(num_retries=placement.TRAIN_RETRIES, backoff_duration=placement.TRAIN_BACKOFF,
                   backoff_factor=placement.TRAIN_BACKOFF_FACTOR)
    kubernetes.set_timeout(task, placement.TRAIN_TIMEOUT_S)


def _harden(task: dsl.PipelineTask, resources: dict[str, str] = placement.STEP_RESOURCES) -> dsl.PipelineTask:
    """Every step's pod on a cluster: non-root, bounded CPU and memory, allowed to reach MLflow, and
    logged in to it as the pipeline's user (kfp.local ignores all of this)."""
    kubernetes.set_security_context(task, run_as_user=placement.RUN_AS_USER, run_as_group=placement.RUN_AS_USER,
                                    run_as_non_root=True)
    task.set_cpu_request(resources["cpu_request"]).set_cpu_limit(resources["cpu_limit"])
    task.set_memory_request(resources["memory_request"]).set_memory_limit(resources["memory_limit"])
    kubernetes.add_pod_label(task, *placement.MLFLOW_CLIENT_LABEL)
    kubernetes.use_secret_as_env(task, placement.MLFLOW_CLIENT_SECRET, dict(placement.MLFLOW_CLIENT_ENV))
    return task


@dsl.pipeline(name=PIPELINE_NAME, description="Customize the motion of a T2V model from reference clips (TAP + AH)")
def motion_customization(
    source: str = "data/bounce",
    dvc_repo: str = ".",
    dvc_rev: str = "",
    concept: str = "bounce",
    min_clips: int = 1,
    base_model: str = "models/shapes",
    recipe: str = "configs/shapes.yaml",
    preset: str = "all",
    highway_scope: str = "all",
    highway_beta: float = 1.1,
    steps: int = 400,
    rank: int = 16,
    learning_rate: float = 1e-3,
    frames: int = 8,
    width: int = 32,
    height: int = 32,
    nodes: int = 1,
    gpus_per_node: int = 0,
    eval_prompts: list = EVAL_PROMPTS,
    eval_seeds: str = "0,1",
    clip_model: str = "models/shapes-clip",
    sampling_steps: int = 20,
    tracking_uri: str = "sqlite:///mlflow.db",
    experiment: str = "motionlora",
    min_motion_gain: float = 0.0,
    text_alignment_tolerance: float = 5.0,
    max_appearance_leakage: float = 5.0,
    min_judge_motion_correct: float = 0.5,
    max_judge_leak: float = 0.25,
    gate_tolerance: float = 0.05,
):
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    finish = _harden(finish_run(tracking_uri=tracking_uri, experiment=experiment, pipeline_run_id=run_id))
    finish.set_caching_options(enable_caching=False)
    with dsl.ExitHandler(finish, name="pipeline"):
        work = {"source": source, "dvc_repo": dvc_repo, "dvc_rev": dvc_rev, "min_clips": min_clips,
                "base_model": base_model, "recipe": recipe, "preset": preset, "highway_scope": highway_scope,
                "highway_beta": highway_beta, "steps": steps, "rank": rank, "learning_rate": learning_rate,
                "frames": frames, "width": width, "height": height, "nodes": nodes, "gpus_per_node": gpus_per_node,
                "eval_seeds": eval_seeds, "clip_model": clip_model, "sampling_steps": sampling_steps}
        gate = {"min_motion_gain": min_motion_gain, "text_alignment_tolerance": text_alignment_tolerance,
                "max_appearance_leakage": max_appearance_leakage, "min_judge_motion_correct": min_judge_motion_correct,
                "max_judge_leak": max_judge_leak, "tolerance": gate_tolerance}
        started = _harden(start_run(tracking_uri=tracking_uri, experiment=experiment, pipeline_run_id=run_id,
                                    concept=concept, work=work, eval_prompts=eval_prompts, gate=gate)
                          .set_caching_options(enable_caching=False))
        tracked = {"tracking_uri": tracking_uri, "parent_run_id": started.outputs["parent_run_id"]}
        reusable = {"tracking_uri": tracking_uri, "experiment": experiment,
                    "content_key": started.outputs["content_key"]}
        ingested = _harden(ingest(source=source, dvc_repo=dvc_repo, dvc_rev=dvc_rev, concept=concept, min_clips=min_clips,
                                  **reusable))
        encoded = _harden(preprocess(ingested=ingested.outputs["ingested"], base_model=base_model, frames=frames,
                                     width=width, height=height, **reusable))
        trained = train(latents=encoded.outputs["latents"], base_model=base_model, recipe=recipe, preset=preset,
                        rank=rank, learning_rate=learning_rate, steps=steps, highway_scope=highway_scope,
                        highway_beta=highway_beta, nodes=nodes, gpus_per_node=gpus_per_node, **reusable)
        _place_on_gpu_nodes(trained)
        evaluated = _harden(evaluate(trained=trained.outputs["trained"], ingested=ingested.outputs["ingested"],
                                     base_model=base_model, recipe=recipe, prompts=eval_prompts, seeds=eval_seeds,
                                     clip_model=clip_model, sampling_steps=sampling_steps, **reusable))
        registered = _harden(register(trained=trained.outputs["trained"], evaluation=evaluated.outputs["evaluation"],
                              ingested=ingested.outputs["ingested"], base_model=base_model, concept=concept,
                              pipeline_run_id=run_id, **gate, **tracked).set_caching_options(enable_caching=False))
        with dsl.If(registered.outputs["Output"] == True, name="gate-passed"):  # noqa: E712 (a KFP condition)
            _harden(promote(concept=concept, pipeline_run_id=run_id, **gate, **tracked)
                    .set_caching_options(enable_caching=False))
