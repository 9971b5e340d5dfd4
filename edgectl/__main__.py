from edgectl.cli import main

raise SystemExit(main())
