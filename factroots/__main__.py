from factroots.cli import main

main()
