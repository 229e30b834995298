// Adoption: the audit client takes spooled events that nobody in this process holds (a previous
// run's, a dead replica's, or its own overflow while memory was full) into memory and sends them.
// At start it takes everything; then, every `everyMs`, what was recorded at least `afterMs` ago (a
// live replica is still sending its younger events). A sibling may send the same event too: the
// audit service ignores a repeated event_id. Its rounds run in the root context: a client started
// inside a traced operation would otherwise put every round's Redis reads into that trace.
import type { Logger } from '../logger.ts';
import { inRootContext } from '../telemetry/propagation.ts';
import { parseSpoolMember, type AuditSpool } from './audit-spool.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';

/** Spool members read per round trip. */
const PAGE = 5000;

export interface SpoolAdopterOptions {
  readonly spool: AuditSpool;
  readonly logger: Logger;
  readonly source: string;
  readonly everyMs: number;
  readonly afterMs: number;
  /** Room left in memory. */
  room(): number;
  /** Held entries that are in the spool: when the spool holds no more than that, there is nothing to adopt. */
  spooledHeld(): number;
  isHeld(eventId: string): boolean;
  /** Takes one event into memory. */
  hold(message: AuditEventInput, member: string): void;
  /** After a round that adopted `count` events: send them. */
  adopted(count: number): void;
  /** Drops an unreadable member from the spool. */
  discard(member: string): void;
}

export interface SpoolAdopter {
  stop(): void;
}

export function startSpoolAdopter(options: SpoolAdopterOptions): SpoolAdopter {
  const { spool, logger, source } = options;
  let running = false;
  let stopped = false;

  /** Never throws: a Redis failure waits for the next round. */
  async function adopt(recordedBefore: number): Promise<void> {
    if (running || stopped) return;
    running = true;
    try {
      if ((await spool.size()) <= options.spooledHeld()) return;
      let adopted = 0;
      // Pages oldest first, skipping what is held here, until memory is full or the spool walked.
      for (let offset = 0; options.room() > 0; ) {
        const members = await spool.load(offset, PAGE, recordedBefore);
        offset += members.length;
        for (const member of members) {
          let message: AuditEventInput;
          try {
            message = parseSpoolMember(member);
          } catch (error) {
            logger.error({ err: error, spool: spool.key, source }, 'removed an unreadable entry from the audit spool');
            options.discard(member);
            continue;
          }
          if (options.isHeld(message.event_id ?? '') || options.room() <= 0) continue;
          options.hold(message, member);
          adopted += 1;
        }
        if (members.length < PAGE) break;
      }
      if (adopted > 0) {
        logger.info({ adopted, spool: spool.key, source }, 'resending audit events from the spool');
        options.adopted(adopted);
      }
    } catch (error) {
      logger.warn({ err: error, spool: spool.key, source }, 'could not read the audit spool; trying again later');
    } finally {
      running = false;
    }
  }

  const timer = inRootContext(() => setInterval(() => void adopt(Date.now() - options.afterMs), options.everyMs).unref());
  void inRootContext(() => adopt(Date.now()));
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
