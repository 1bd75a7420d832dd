from app.main import CITIES


def test_cities_exist():
    assert CITIES.exists()
