from blogart.cli import main

main()
