from .cli.entry import main

if __name__ == "__main__":  # a spawned worker (sync/checkpool.py) imports this module too
    main()
