from dfdx.cli import main

raise SystemExit(main())
