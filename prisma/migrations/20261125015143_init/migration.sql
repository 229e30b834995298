-- CreateEnum
CREATE TYPE "PollStatus" AS ENUM ('DRAFT', 'OPEN', 'CLOSED');

-- CreateTable
CREATE TABLE "polls" (
    "id" UUID NOT NULL,
    "question" TEXT NOT NULL,
    "status" "PollStatus" NOT NULL DEFAULT 'DRAFT',
    "opens_at" TIMESTAMPTZ(3),
    "closes_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "polls_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "poll_options" (
    "id" UUID NOT NULL,
    "poll_id" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "position" INTEGER NOT NULL,

    CONSTRAINT "poll_options_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ballots" (
    "poll_id" UUID NOT NULL,
    "voter_id" TEXT NOT NULL,
    "option_id" UUID NOT NULL,
    "receipt_id" UUID NOT NULL,
    "stream_ms" BIGINT NOT NULL,
    "stream_seq" BIGINT NOT NULL,
    "cast_at" TIMESTAMPTZ(3) NOT NULL,
    "counted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ballots_pkey" PRIMARY KEY ("poll_id","voter_id")
);

-- CreateTable
CREATE TABLE "option_tallies" (
    "option_id" UUID NOT NULL,
    "poll_id" UUID NOT NULL,
    "votes" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "option_tallies_pkey" PRIMARY KEY ("option_id")
);

-- CreateTable
CREATE TABLE "poll_tallies" (
    "poll_id" UUID NOT NULL,
    "total_votes" BIGINT NOT NULL DEFAULT 0,
    "version" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "poll_tallies_pkey" PRIMARY KEY ("poll_id")
);

-- CreateTable
CREATE TABLE "poll_rate_buckets" (
    "poll_id" UUID NOT NULL,
    "second" BIGINT NOT NULL,
    "votes" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "poll_rate_buckets_pkey" PRIMARY KEY ("poll_id","second")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "seq" BIGSERIAL NOT NULL,
    "event_id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "subject_type" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "poll_id" UUID,
    "trace_id" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE INDEX "polls_status_created_at_id_idx" ON "polls"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "poll_options_poll_id_idx" ON "poll_options"("poll_id");

-- CreateIndex
CREATE UNIQUE INDEX "poll_options_poll_id_position_key" ON "poll_options"("poll_id", "position");

-- CreateIndex
CREATE INDEX "ballots_receipt_id_idx" ON "ballots"("receipt_id");

-- CreateIndex
CREATE INDEX "option_tallies_poll_id_idx" ON "option_tallies"("poll_id");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_event_id_key" ON "audit_events"("event_id");

-- CreateIndex
CREATE INDEX "audit_events_poll_id_seq_idx" ON "audit_events"("poll_id", "seq");

-- CreateIndex
CREATE INDEX "audit_events_action_seq_idx" ON "audit_events"("action", "seq");

-- AddForeignKey
ALTER TABLE "poll_options" ADD CONSTRAINT "poll_options_poll_id_fkey" FOREIGN KEY ("poll_id") REFERENCES "polls"("id") ON DELETE CASCADE ON UPDATE CASCADE;
