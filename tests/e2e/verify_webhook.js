// Verifies one webhook delivery with the Standard Webhooks reference
// implementation (npm "standardwebhooks", vendored).  Reads JSON from
// stdin: {"secret": "whsec_...", "headers": {...}, "body": "..."}.
// Prints "ok" (exit 0) or "fail: reason" (exit 1).
const { Webhook } = require('./vendor/node_modules/standardwebhooks');
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  try {
    new Webhook(req.secret).verify(req.body, req.headers);
    console.log('ok');
  } catch (e) {
    console.log('fail: ' + e.message);
    process.exit(1);
  }
});
