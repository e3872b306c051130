// Types for `./vendor/dagre.js`, which `hoard serve` answers with @dagrejs/dagre's ES module
// (src/service/routes/system.ts); only tsc -p tsconfig.dashboard.json reads this file.
import dagre from '@dagrejs/dagre';
export default dagre;
