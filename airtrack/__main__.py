from airtrack.cli import main

main()
