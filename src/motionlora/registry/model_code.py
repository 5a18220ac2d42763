"""The file MLflow executes to load a logged motion model ("models from code": no pickled object)."""

from mlflow.models import set_model

from motionlora.registry.model import MotionVideoModel

set_model(MotionVideoModel())
