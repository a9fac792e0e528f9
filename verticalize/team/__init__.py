"""Team recipes: locks (``lock``), comparisons (``diff``) and scaffolds (``scaffold``)."""
