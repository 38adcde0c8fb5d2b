"""``python -m portal.aws_standin [--host 127.0.0.1] [--port 5000] [--quiet]``"""

from .server import main

if __name__ == "__main__":
    main()
