-- Drop a database, closing its sessions (the name is an identifier composed in by storage.compose).
DROP DATABASE IF EXISTS {name} WITH (FORCE)
