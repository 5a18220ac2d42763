"""Component `train`: train the motion adapter, on this node or as a multi-node Kubeflow TrainJob."""

from kfp.dsl import Dataset, Input, Model, Output

from components import component


@component
def train(latents: Input[Dataset], base_model: str, recipe: str, preset: str, rank: int, learning_rate: float,
          steps: int, highway_scope: str, highway_beta: float, nodes: int, gpus_per_node: int, tracking_uri: str,
          experiment: str, content_key: str, trained: Output[Model]):
    """Training (the recipe's `train` section, then these settings) into `trained`.

    The run folder becomes the `trained` artifact; the adapter is its `adapter/` subfolder. One node
    trains in-process or under torchrun; `nodes` > 1 creates a Kubeflow Trainer TrainJob (its
    cluster settings come from the motionlora-launch ConfigMap through MOTIONLORA_* variables).
    """
    from motionlora.config import load_config
    from motionlora.launch import LaunchSettings, launch_training
    from motionlora.tracking import TrackingOptions
    from motionlora.tracking.pipeline_run import content_step
    from motionlora.train import TrainConfig
    from motionlora.train.request import TrainRequest

    settings = {"preset": preset, "rank": rank, "learning_rate": learning_rate, "steps": steps,
                "highway_scope": highway_scope, "highway_beta": highway_beta}
    with content_step(tracking_uri, experiment, content_key, "train") as parent_run_id:
        tracking = TrackingOptions(tracking_uri=tracking_uri, experiment=experiment, parent_run_id=parent_run_id,
                                   run_name="train")
        config = load_config(TrainConfig, recipe, "train", settings=settings)
        launch_training(TrainRequest(config, latents.path, trained.path, base_model, tracking),
                        LaunchSettings.from_env(launcher="trainer" if nodes > 1 else "local",
                                                nodes=nodes, gpus_per_node=gpus_per_node))
    trained.metadata.update(settings)
