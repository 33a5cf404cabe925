from denoiserec.cli import main

main()
