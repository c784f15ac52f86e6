from assistant_cli.cli import main

raise SystemExit(main())
