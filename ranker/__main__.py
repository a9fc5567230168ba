from ranker.cli import main

raise SystemExit(main())
