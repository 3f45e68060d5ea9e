import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes SQL migrations for schema changes into drizzle/;
// they are committed and applied automatically at start.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/database/schema.ts',
  out: './drizzle',
});
