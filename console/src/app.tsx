export function App() {
  return (
    <main>
      <h1>Gatehouse</h1>
    </main>
  );
}
