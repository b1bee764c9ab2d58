from mhaquiz.cli import main

main()
