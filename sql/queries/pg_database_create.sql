-- A database (the name is an identifier composed in by storage.compose).
CREATE DATABASE {name}
