/**
 * Documented size caps for contributed rows. A contribution is one example, not a document
 * store: anything larger is almost surely a mistake or an attack, and it would dominate
 * memory in training and attribution.
 */
export const MAX_TEXT_BYTES = 1_048_576; // 1 MiB of UTF-8 per text payload
export const MAX_FEATURES = 65_536; // features per numeric payload
export const MAX_LABEL_BYTES = 256;
export const MAX_CONTRIBUTOR_BYTES = 256;
export const MAX_FILE_BYTES = 2 * 1024 ** 3; // 2 GiB per imported file
