from sleitp.cli import main

main()
