from bnnstat.cli import main

if __name__ == "__main__":
    # `python -m bnnstat` answers shell completion under the same variable as the `bnnstat` script
    main(complete_var="_BNNSTAT_COMPLETE")
