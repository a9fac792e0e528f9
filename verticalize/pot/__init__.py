"""Program-of-Thoughts (PoT): run model-written Python safely and vote over samples.

>>> from verticalize.pot import PythonSandbox, extract_program, majority_vote  # doctest: +SKIP
>>> with PythonSandbox() as sb:                                                 # doctest: +SKIP
...     r = sb.run(extract_program(model_text))
...     r.status, r.answer

See :mod:`verticalize.pot.sandbox` for the isolation model and its limits.
"""

from verticalize.pot.extract import binds_answer, extract_program
from verticalize.pot.prompts import POT_SYSTEM_PROMPT, pot_prompt
from verticalize.pot.sandbox import STATUSES, ExecResult, PythonSandbox
from verticalize.pot.vote import majority_vote

__all__ = ["PythonSandbox", "ExecResult", "STATUSES", "extract_program", "binds_answer",
           "majority_vote", "pot_prompt", "POT_SYSTEM_PROMPT"]
