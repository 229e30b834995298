-- Nothing looks ballots up by receipt id, and the index made every changed vote rewrite two
-- indexes instead of one.
-- DropIndex
DROP INDEX "ballots_receipt_id_idx";

-- A changed vote rewrites its ballot row; with free space on the page (and no indexed column
-- changing) PostgreSQL can do it as a heap-only update. The tally rows are tiny and updated by
-- every batch, so they get even more room. (Storage parameters are invisible to Prisma's schema.)
ALTER TABLE "ballots" SET (fillfactor = 70);
ALTER TABLE "option_tallies" SET (fillfactor = 50);
ALTER TABLE "poll_tallies" SET (fillfactor = 50);
