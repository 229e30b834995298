-- The receipt a ballot's current vote replaced, so that a replay of that vote (committed, but its
-- settle never reached Redis) can mark the replaced receipt SUPERSEDED again. Nullable without a
-- default: adding the columns only changes the catalog, existing rows are not rewritten.
-- AlterTable
ALTER TABLE "ballots" ADD COLUMN     "replaced_cast_at" TIMESTAMPTZ(3),
ADD COLUMN     "replaced_option_id" UUID,
ADD COLUMN     "replaced_receipt_id" UUID;
