import { PrismaClient } from '@votemesh/common/db/generated/client';
import { PrismaPg } from '@prisma/adapter-pg';
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: 'postgresql://postgres@127.0.0.1:5432/wk_scratch' }) });
const ids = ['3f0e7c8e-1111-4111-8111-111111111111', '3f0e7c8e-1111-4111-8111-222222222222'];
const ms = [1n, 2n];
const r = await prisma.$queryRaw<{ a: string; b: bigint; c: number }[]>`SELECT a::text, b, 1::int AS c FROM unnest(${ids}::uuid[], ${ms}::bigint[]) AS t(a, b)`;
console.log(r);
const r2 = await prisma.$queryRaw`SELECT unnest(${['x','y']}::text[]) AS t, now() AS n`;
console.log(r2);
try { await prisma.$queryRaw`SELECT 1/0`; } catch (e) { console.log('ERR', e?.constructor?.name, Object.keys(e), e.code, e.meta, e.cause); }
await prisma.$disconnect();
