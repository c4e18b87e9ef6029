from rdmacheck.cli import main

main()
