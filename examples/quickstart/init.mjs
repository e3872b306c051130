// Creates the example application's SQLite database once (the quickstart protects it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const path = fileURLToPath(new URL('./app.db', import.meta.url));
if (!existsSync(path)) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL)');
  const insert = db.prepare('INSERT INTO orders (item, qty) VALUES (?, ?)');
  db.transaction(() => {
    for (const [item, qty] of [
      ['milk', 2],
      ['bread', 1],
      ['coffee', 3],
    ])
      insert.run(item, qty);
  })();
  db.close();
}
