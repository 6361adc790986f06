// The quick start of the README, runnable: `npm start`. Fifty callers dispatch at once to a
// `squares` serving; they share a handful of executions and each gets exactly its own result.
const { BatchServing } = require('../dist');

async function main() {
  let executions = 0;
  const squares = BatchServing.new((values) => {
    executions++;
    console.log(`batch of ${values.length}: [${values.join(', ')}]`);
    return values.map((v) => v * v);
  });
  const serving = BatchServing.start(squares, { name: 'squares', batchSize: 10, batchTimeout: 100 });

  const inputs = Array.from({ length: 50 }, (_, i) => i + 1);
  const results = await Promise.all(inputs.map((n) => serving.dispatch(n)));
  const correct = results.every((r, i) => r === inputs[i] * inputs[i]);
  console.log(`${inputs.length} dispatches, ${executions} executions, every result correct: ${correct}`);

  const bad = await serving.tryDispatchMany([1, 2, 3], { timeout: 1 }).catch((e) => e);
  console.log('a dispatch never hangs:', bad.ok ? 'served in time' : bad.error.code);
  console.log('stats:', serving.stats());
  await serving.close('drain', 1000);
  if (!correct) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
