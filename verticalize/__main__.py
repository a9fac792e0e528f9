"""``python -m verticalize ...`` is the ``verticalize`` command."""

from verticalize.cli.main import main

main()
