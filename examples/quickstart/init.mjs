// Creates the example application's SQLite database once (the quickstart protects it).
// Safe when several processes run it at once (the tests do): the table and its rows are made
// in one immediate transaction, by whichever process takes the write lock first, and no
// process returns before they are there (a file that exists may not hold them yet).
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const path = fileURLToPath(new URL('./app.db', import.meta.url));
const db = new Database(path);
db.pragma('busy_timeout = 10000');
db.pragma('journal_mode = WAL');
db.transaction(() => {
  db.exec(
    'CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL)',
  );
  if (db.prepare('SELECT count(*) AS n FROM orders').get().n > 0) return;
  const insert = db.prepare('INSERT INTO orders (item, qty) VALUES (?, ?)');
  for (const [item, qty] of [
    ['milk', 2],
    ['bread', 1],
    ['coffee', 3],
  ])
    insert.run(item, qty);
}).immediate();
db.close();
