"""Data: sources, formats, cleaning (dedup, length, PII), replay mixing."""

from verticalize.data.clean import clean_examples, drop_overlap
from verticalize.data.formats import FORMATS, convert, detect_format
from verticalize.data.mix import replay_mix
from verticalize.data.pii import redact_pii
from verticalize.data.sources import read_examples

__all__ = ["FORMATS", "convert", "detect_format", "clean_examples", "drop_overlap", "replay_mix", "redact_pii",
           "read_examples"]
