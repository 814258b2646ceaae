// Placeholder until the collectives addon lands: builds nothing.
console.log('[gradpool] native: nothing to build yet');
