"""Running recipes: ``execute`` (the flow of one run as small named steps), ``Run`` (a finished run
dir), ``validate`` (every problem of a recipe, without a model), ``export`` and ``sweep``.

Nothing below run/ imports run/; run/ never calls transformers or PEFT itself.
"""

from verticalize.run.execute import execute, resume
from verticalize.run.rundir import default_output_dir
from verticalize.run.result import Run
from verticalize.run.validate import validate

__all__ = ["Run", "execute", "resume", "default_output_dir", "validate"]
