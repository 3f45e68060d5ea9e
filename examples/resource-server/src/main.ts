import { createApp, AppModule, optionsFromEnv } from './app.js';

/**
 * The example resource server: `GATEHOUSE_ISSUER=http://localhost:3000
 * GATEHOUSE_CLIENT_ID=… GATEHOUSE_CLIENT_SECRET=… PORT=4000 node dist/main.js`.
 */
let options;
try {
  options = optionsFromEnv(process.env);
} catch (error) {
  console.error(`resource-server: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const app = await createApp(AppModule.register(options));
const port = Number(process.env.PORT ?? 4000);
await app.listen({ port, host: process.env.HOST ?? '0.0.0.0' });
console.log(`resource-server listening on http://localhost:${port}`);
