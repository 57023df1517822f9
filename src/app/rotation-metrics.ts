import type { Registry } from 'prom-client';
import type { RotationObserver } from '../rotation/rotation-types.ts';
import { rotationSteps } from '../rotation/rotator.ts';
import { CounterFamily, HistogramFamily } from './metric-families.ts';

/** Upper bounds (seconds) of a rotation run: a random value takes milliseconds, a webhook up to minutes. */
const rotationBucketsSeconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The rotation series (docs/metrics.md; M4 rotation success, M10 rotation lead time), every label
 * from a closed set: `coffer_rotation_steps_total{step, result}`, `coffer_rotations_total{trigger,
 * result}` (runs: finished or failed at a step) and `coffer_rotation_duration_seconds{trigger}` (a
 * run that finished the rotation, claim to `current` moved: for `manual`, the lead time from
 * `POST …/rotate` to the new credential).
 */
export function rotationMetrics(registry: Registry): RotationObserver {
  const steps = new CounterFamily('coffer_rotation_steps_total', 'Rotation steps by outcome.', [
    'step',
    'result',
  ]).register(registry);
  const runs = new CounterFamily(
    'coffer_rotations_total',
    'Rotation runs by trigger (manual, scheduled) and outcome (ok: current moved; failed: a step failed).',
    ['trigger', 'result'],
  ).register(registry);
  const seconds = new HistogramFamily(
    'coffer_rotation_duration_seconds',
    'Time of a rotation run that moved current, by trigger (manual: the lead time of POST …/rotate).',
    ['trigger'],
    rotationBucketsSeconds,
  ).register(registry);
  const stepCells = new Map(
    rotationSteps.flatMap((step) =>
      (['ok', 'failed'] as const).map((result) => [`${step}/${result}`, steps.cell(step, result)] as const),
    ),
  );
  const runCells = new Map(
    (['manual', 'scheduled'] as const).flatMap((trigger) =>
      (['ok', 'failed'] as const).map(
        (result) => [`${trigger}/${result}`, runs.cell(trigger, result)] as const,
      ),
    ),
  );
  const secondCells = { manual: seconds.cell('manual'), scheduled: seconds.cell('scheduled') };
  return {
    step(step, result) {
      stepCells.get(`${step}/${result}`)?.inc();
    },
    run(trigger, result, elapsedSeconds) {
      runCells.get(`${trigger}/${result}`)?.inc();
      if (result === 'ok') secondCells[trigger].observe(elapsedSeconds);
    },
  };
}
