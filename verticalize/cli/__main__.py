from verticalize.cli.main import main

main()
