// Checks Cypher statements with Neo4j's own parser and linter (@neo4j-cypher/language-support).
// Reads {"schema": {...}, "statements": {"NAME": "text", ...}} as JSON on stdin; writes
// {"NAME": [{"severity": 1|2, "message": "..."}], ...} as JSON on stdout.
// Run by tests/test_cypher.py: no Neo4j server can be installed on our machines.
import { lintCypherQuery } from '@neo4j-cypher/language-support';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const { schema, statements } = JSON.parse(input);
const out = {};
for (const [name, text] of Object.entries(statements)) {
  const result = lintCypherQuery(text, schema);
  out[name] = result.diagnostics.map((d) => ({ severity: d.severity, message: d.message }));
}
process.stdout.write(JSON.stringify(out));
